// `node --import ./scripts/ts-register.mjs file.ts` runs a TypeScript file without a build step.
import { register } from 'node:module';
register('./ts-hooks.mjs', import.meta.url);
