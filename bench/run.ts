/**
 * `npm run bench -- NAME [options]` runs one benchmark; without a name, lists them. Each prints
 * our time against the reference tool's on the same input (medians of several runs) and peak
 * memory; the machine is shared, so quote medians.
 */
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const dir = fileURLToPath(new URL('.', import.meta.url));
const names = readdirSync(dir)
  .filter((f) => f.endsWith('.ts') && f !== 'run.ts')
  .map((f) => f.replace(/\.ts$/, ''))
  .sort();
const [name, ...rest] = process.argv.slice(2);
if (!name || !names.includes(name)) {
  console.error(`usage: npm run bench -- NAME [options]\nbenchmarks: ${names.join(', ')}`);
  process.exitCode = name ? 64 : 0;
} else {
  const r = spawnSync(process.execPath, ['--import', 'tsx', `${dir}${name}.ts`, ...rest], {
    stdio: 'inherit',
  });
  process.exitCode = r.status ?? 70;
}
