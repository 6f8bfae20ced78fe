#!/usr/bin/env bun
/** Entry point of the klag-exporter binary. */
import "./lib/quiet-warnings.ts";
import { runCli } from "./cli/main.ts";

await runCli(process.argv.slice(2));
