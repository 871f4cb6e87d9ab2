import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import quantlab, { HASH_COMMAND_SELECTORS } from './scripts/eslint/quantlab-plugin.js';

export default tseslint.config(
  { ignores: ['node_modules/**', 'services/dashboard/public/build/**', 'services/cli/dist/**', 'services/client/src/openapi.gen.ts', 'test-artifacts/**', 'data/**', '.data/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { globals: { process: 'readonly', console: 'readonly', Buffer: 'readonly', setTimeout: 'readonly', clearTimeout: 'readonly', setInterval: 'readonly', clearInterval: 'readonly', URL: 'readonly', fetch: 'readonly', performance: 'readonly', AbortController: 'readonly', structuredClone: 'readonly', TextEncoder: 'readonly', TextDecoder: 'readonly', document: 'readonly', window: 'readonly', localStorage: 'readonly', setImmediate: 'readonly' } },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/no-explicit-any': 'off',
    },
  },
  // Architecture: imports point one way and never go round; only store/ folders speak Redis hashes.
  {
    files: ['services/*/src/**/*.ts'],
    plugins: { quantlab },
    rules: { 'quantlab/no-import-cycle': 'error', 'quantlab/layers': 'error' },
  },
  {
    files: ['services/*/src/**/*.ts'],
    ignores: ['services/*/src/**/store/**'],
    rules: { 'no-restricted-syntax': ['error', ...HASH_COMMAND_SELECTORS] },
  },
);
