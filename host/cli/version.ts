// The version the CLI reports; kept in step with package.json by test/unit/cli-args.test.ts.
export const VERSION = '0.1.0';
