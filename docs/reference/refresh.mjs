// Copies the Swagger UI files that /docs serves from the version pinned in
// docs/package-lock.json into docs/reference/, where docs/embed.go embeds
// them into the ledger's binary. Run after changing the pin:
//
//   npm ci --prefix docs && npm run --prefix docs reference:refresh
//
// With --check it changes nothing and exits 1 when the committed files are
// not those of the pinned version (the browser test runs it so).
import { readFileSync, writeFileSync, existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const dist = join(here, '..', 'node_modules', 'swagger-ui-dist');
const check = process.argv.includes('--check');

// The source map comments are dropped: the maps are not shipped, and a
// browser's developer tools would otherwise ask the ledger for them.
const dropSourceMap = (text) => text.replace(/\n?\/[/*]# sourceMappingURL=\S+?(\s*\*\/)?\s*$/, '\n');

const version = JSON.parse(readFileSync(join(dist, 'package.json'), 'utf8')).version;
const files = {
  'swagger-ui-bundle.js': dropSourceMap(readFileSync(join(dist, 'swagger-ui-bundle.js'), 'utf8')),
  'swagger-ui.css': dropSourceMap(readFileSync(join(dist, 'swagger-ui.css'), 'utf8')),
  'swagger-ui-bundle.js.LICENSE.txt': readFileSync(join(dist, 'swagger-ui-bundle.js.LICENSE.txt'), 'utf8'),
  LICENSE: readFileSync(join(dist, 'LICENSE'), 'utf8'),
  NOTICE: readFileSync(join(dist, 'NOTICE'), 'utf8'),
  'swagger-ui-version': version + '\n',
};

let stale = [];
for (const [name, text] of Object.entries(files)) {
  const path = join(here, name);
  const current = existsSync(path) ? readFileSync(path, 'utf8') : null;
  if (current === text) continue;
  if (check) {
    stale.push(name);
  } else {
    writeFileSync(path, text);
    console.log(`docs/reference/${name}: swagger-ui-dist ${version}`);
  }
}
if (stale.length > 0) {
  console.error(`docs/reference is not swagger-ui-dist ${version} (pinned in docs/package-lock.json): ${stale.join(', ')}`);
  console.error('refresh it: npm ci --prefix docs && npm run --prefix docs reference:refresh');
  process.exit(1);
}
