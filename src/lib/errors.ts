/** Turns anything thrown into a one-line message. Imports nothing of ours. */
export function errorMessage(error: unknown): string {
  if (error instanceof Error) return error.message || error.name;
  return String(error);
}
