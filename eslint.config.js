// @ts-check
// One lint configuration for the whole tree: ESLint's recommended rules and typescript-eslint's
// recommended-type-checked set, with types from tsconfig.json (the project service). `npm test`
// runs it through `npm run lint`. Each rule changed from those sets says why.
import js from '@eslint/js';
import { defineConfig, globalIgnores } from 'eslint/config';
import tseslint from 'typescript-eslint';

export default defineConfig(
  globalIgnores([
    'node_modules/',
    'bench/node_modules/',
    'bench/results/',
    'data/',
    'dist/',
    'load-results/',
    '.tap/',
    '.tools/',
    '.venv-fuzz/',
    'cluster/cassandra/.run*/',
    'cluster/cassandra/target/',
  ]),
  {
    files: ['**/*.{ts,js,mjs}'],
    extends: [js.configs.recommended, tseslint.configs.recommendedTypeChecked],
    languageOptions: {
      parserOptions: {
        // The few plain-JavaScript entry points are outside tsconfig.json; they get a default project.
        projectService: { allowDefaultProject: ['eslint.config.js', 'bin/*.mjs', 'src/actors/*.mjs'] },
        tsconfigRootDir: import.meta.dirname,
      },
    },
    rules: {
      // Off: `async` without `await` is how this code keeps a promise contract (the store port over
      // synchronous SQLite, in-memory doubles, fastify's async hooks, plugins and handlers, tap
      // callbacks): a throw becomes a rejection. The mistake the rule looks for, a forgotten
      // await, is what no-floating-promises, no-misused-promises and await-thenable catch.
      '@typescript-eslint/require-await': 'off',
      // Passing a caught value on as a rejection is the promise form of a rethrow, which
      // only-throw-error allows by default.
      '@typescript-eslint/prefer-promise-reject-errors': ['error', { allowThrowingUnknown: true }],
      // A leading underscore marks a binding kept on purpose (a counted loop variable, a key
      // taken out of an object by a rest pattern).
      '@typescript-eslint/no-unused-vars': ['error', { varsIgnorePattern: '^_', ignoreRestSiblings: true }],
    },
  },
  {
    // The dashboard's browser modules (src/dashboard/public/): plain ES modules served as they are
    // (no build step), outside tsconfig.json, whose types have no DOM: the rules that need no types,
    // and the browser's globals (no-undef still catches a misspelt one).
    files: ['src/dashboard/public/**/*.js'],
    extends: [tseslint.configs.disableTypeChecked],
    languageOptions: {
      sourceType: 'module',
      globals: Object.fromEntries(
        [
          'window',
          'document',
          'location',
          'history',
          'navigator',
          'sessionStorage',
          'localStorage',
          'fetch',
          'Response',
          'URL',
          'URLSearchParams',
          'Node',
          'Element',
          'HTMLElement',
          'HTMLInputElement',
          'HTMLFormElement',
          'TextDecoder',
          'AbortController',
          'console',
          'setTimeout',
          'clearTimeout',
          'requestAnimationFrame',
        ].map((name) => [name, 'readonly']),
      ),
    },
  },
  {
    // tap tracks every subtest it is given: a test ends only after its subtests, and a failed or
    // thrown subtest fails the run, so the promise t.test() returns needs no awaiting.
    files: ['test/**/*.ts'],
    rules: {
      '@typescript-eslint/no-floating-promises': ['error', { allowForKnownSafeCalls: [{ from: 'package', package: '@tapjs/test', name: ['test', 'todo', 'skip', 'only'] }] }],
    },
  },
);
