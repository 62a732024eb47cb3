// Validate custom resources against their CRDs' OpenAPI schemas, as compiled into the
// pinned @kubernetes-models packages (the validators the models' .validate() runs):
//   node tests/tools/validate-crds.mjs DOCS.json
// DOCS.json: [{"id": "...", "doc": {...}}]. Prints a JSON list of {"id", "error"} for the
// documents that fail, or whose apiVersion/kind no package here defines; exits 1 when any.
import { readFileSync } from 'node:fs';

const MODELS = {
  'keda.sh/v1alpha1/ScaledObject': ['@kubernetes-models/keda/keda.sh/v1alpha1/ScaledObject', 'ScaledObject'],
  'monitoring.coreos.com/v1/ServiceMonitor': ['@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/ServiceMonitor', 'ServiceMonitor'],
  'monitoring.coreos.com/v1/PrometheusRule': ['@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/PrometheusRule', 'PrometheusRule'],
  'monitoring.coreos.com/v1/PodMonitor': ['@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/PodMonitor', 'PodMonitor'],
  'monitoring.coreos.com/v1alpha1/AlertmanagerConfig': ['@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1alpha1/AlertmanagerConfig', 'AlertmanagerConfig'],
};

const [file] = process.argv.slice(2);
if (!file) {
  process.stderr.write('usage: node validate-crds.mjs DOCS.json\n');
  process.exit(2);
}
const failures = [];
for (const { id, doc } of JSON.parse(readFileSync(file, 'utf8'))) {
  const model = MODELS[`${doc.apiVersion}/${doc.kind}`];
  if (!model) {
    failures.push({ id, error: `no CRD schema here for ${doc.apiVersion} ${doc.kind}` });
    continue;
  }
  const Model = (await import(model[0]))[model[1]];
  try {
    new Model(doc).validate();
  } catch (error) {
    failures.push({ id, error: String(error.message || error) });
  }
}
process.stdout.write(JSON.stringify(failures, null, 1) + '\n');
process.exit(failures.length ? 1 : 0);
