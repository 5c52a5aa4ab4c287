/**
 * The shared front of the repository's command-line entry points: parse, print help, or exit 2 with the
 * parse error and the help text (usage errors are the caller's to fix, not crashes).
 */
export function parseOrExit<T>(parse: (argv: readonly string[]) => T | 'help', help: string, argv: readonly string[]): T | null {
  let parsed: T | 'help';
  try {
    parsed = parse(argv);
  } catch (error) {
    process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n\n${help}`);
    process.exit(2);
  }
  if (parsed === 'help') {
    process.stdout.write(help);
    return null;
  }
  return parsed;
}
