// Parse queries with the grammars of the real tools and report every syntax error:
//   logql   @grafana/lezer-logql, the grammar of Grafana's Loki query editor
//   promql  @prometheus-io/lezer-promql, Prometheus's own (0.305.0 = Prometheus v3.5.0)
//
//   node tests/tools/parse.mjs logql|promql QUERIES.json
//
// QUERIES.json: [{"id": "...", "expr": "..."}]. Prints a JSON list of
// {"id", "expr", "errors": [{"at", "near"}]} for the queries that do not parse; exits 1
// when there is any, 0 when every query parses.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const grammars = {
  logql: () => require('@grafana/lezer-logql').parser,
  promql: () => require('@prometheus-io/lezer-promql').parser,
};
const [language, file] = process.argv.slice(2);
if (!(language in grammars) || !file) {
  process.stderr.write('usage: node parse.mjs logql|promql QUERIES.json\n');
  process.exit(2);
}
const parser = grammars[language]();
const queries = JSON.parse(readFileSync(file, 'utf8'));
const failures = [];
for (const { id, expr } of queries) {
  const tree = parser.parse(expr);
  const errors = [];
  tree.iterate({
    enter(node) {
      if (node.type.isError) {
        errors.push({ at: node.from, near: expr.slice(Math.max(0, node.from - 20), node.from + 20) });
      }
    },
  });
  if (!expr.trim()) errors.push({ at: 0, near: '' });
  if (errors.length) failures.push({ id, expr, errors });
}
process.stdout.write(JSON.stringify(failures, null, 1) + '\n');
process.exit(failures.length ? 1 : 0);
