// Validates custom resources against the published models of the npm packages
// @kubernetes-models/istio, @kubernetes-models/cert-manager and
// @kubernetes-models/prometheus-operator (generated from the projects' CRDs):
//   1. each object through its model's validate() (the CRD's OpenAPI schema
//      compiled: types, required fields, enums, formats);
//   2. all objects as typed literals of the models' TypeScript interfaces,
//      checked by tsc: excess-property checks reject fields the CRD does not
//      have (a typo the API server would silently prune).
// Usage: node crs.mjs MODULES_DIR CRS_JSON
//   MODULES_DIR  where `npm ci` installed deploy/checks/package.json (the
//                TypeScript source is written there, beside node_modules)
//   CRS_JSON     [{file, object}] written by deploychecks.py split-manifests
import { readFileSync, writeFileSync, existsSync } from "node:fs";
import { execFileSync } from "node:child_process";
import { join } from "node:path";
import { pathToFileURL } from "node:url";

const MODELS = {
  "networking.istio.io/v1": "@kubernetes-models/istio/networking.istio.io/v1",
  "cert-manager.io/v1": "@kubernetes-models/cert-manager/cert-manager.io/v1",
  "monitoring.coreos.com/v1": "@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1",
};

const [modulesDir, crsJson] = process.argv.slice(2);
if (!crsJson) {
  console.error("usage: node crs.mjs MODULES_DIR CRS_JSON");
  process.exit(2);
}
const resources = JSON.parse(readFileSync(crsJson, "utf8"));
let failures = 0;
const imports = new Map();
const literals = [];

for (const [i, { file, object }] of resources.entries()) {
  const base = MODELS[object.apiVersion];
  const where = `${file} (${object.kind} ${object.metadata?.name})`;
  if (!base) {
    console.log(`FAIL ${where}: no model for apiVersion ${object.apiVersion}`);
    failures++;
    continue;
  }
  const stem = join(modulesDir, "node_modules", base, object.kind);
  const path = existsSync(`${stem}.mjs`) ? `${stem}.mjs` : `${stem}.js`;
  if (!existsSync(path)) {
    console.log(`FAIL ${where}: the package has no model ${base}/${object.kind}`);
    failures++;
    continue;
  }
  const model = (await import(pathToFileURL(path).href))[object.kind];
  try {
    new model(object).validate();
    console.log(`ok   ${where}: valid against ${base}/${object.kind}`);
  } catch (error) {
    console.log(`FAIL ${where}: ${error.message}`);
    failures++;
  }
  const type = `I${object.kind}`;
  const alias = `${type}_${imports.size}`;
  if (!imports.has(`${base}/${object.kind}`)) {
    imports.set(`${base}/${object.kind}`, alias);
  }
  literals.push(
    `// ${where}\nexport const r${i}: ${imports.get(`${base}/${object.kind}`)} = ${JSON.stringify(object, null, 2)};`,
  );
}

// tsc: the same objects as typed literals.
const header = [...imports.entries()]
  .map(([module, alias]) => `import type { I${module.split("/").pop()} as ${alias} } from "${module}";`)
  .join("\n");
// (inside MODULES_DIR, so the packages resolve from its node_modules)
const source = join(modulesDir, "crs-check.ts");
writeFileSync(source, `${header}\n\n${literals.join("\n\n")}\n`);
try {
  execFileSync(
    join(modulesDir, "node_modules", ".bin", "tsc"),
    ["--noEmit", "--strict", "--skipLibCheck", "--target", "es2022", "--module", "nodenext",
      "--moduleResolution", "nodenext", source],
    { cwd: modulesDir, stdio: ["ignore", "pipe", "pipe"] },
  );
  console.log(`ok   tsc: ${literals.length} objects match the models' TypeScript interfaces (no unknown fields)`);
} catch (error) {
  console.log(`FAIL tsc rejected objects (unknown fields or wrong types):\n${error.stdout}${error.stderr}`);
  failures++;
}

console.log(`custom resources: ${resources.length} checked, ${failures} failure(s)`);
process.exit(failures === 0 ? 0 : 1);
