// Prints, as JSON, every route the pinned @nhost/nhost-js auth client calls:
// [{"call": "signInPAT", "method": "POST", "path": "/signin/pat"}, ...].
// Read from the SDK's own compiled client, so the list follows the pinned version.
import { readFile } from 'node:fs/promises';

// The package's exports map hides its files from resolution: read the installed copy.
const client = new URL('node_modules/@nhost/nhost-js/dist/src/auth/client.js', import.meta.url);
const source = await readFile(client, 'utf8');

const routes = [];
// Each call is `const name = async (...) => { const url = `${baseURL}/path...`; ... method: 'X'`,
// or, for calls that build a URL for a browser redirect, returns the URL itself.
const call = /const (\w+) = (?:async )?\([^)]*\) => \{([\s\S]*?)\n    \};/g;
for (const [, name, body] of source.matchAll(call)) {
  const url = /`\$\{baseURL\}(\/[^`?]*)/.exec(body);
  if (!url) continue;
  const method = /method: '(\w+)'/.exec(body)?.[1] ?? 'GET';
  const path = url[1].replace(/\$\{(\w+)\}/g, '{$1}');
  routes.push({ call: name, method, path });
}
console.log(JSON.stringify(routes));
