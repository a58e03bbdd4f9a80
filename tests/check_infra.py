#!/usr/bin/env python3
"""Checks the deployment description as a whole, offline:
- cfn-lint on template.yaml (it exits non-zero on findings, unlike `sam validate --lint`);
- statelint on the state machine, rendered with example ARNs for its ${...} substitutions;
- every ${...} in the ASL is defined in DefinitionSubstitutions, and every substitution is used;
- every directory under functions/ is exactly one Lambda of the template (binary = directory
  name), and every function is referenced by the rest of the stack.
"""
import json
import pathlib
import re
import subprocess
import sys
import tempfile

from cfnlint.decode import decode

root = pathlib.Path(__file__).resolve().parent.parent
venv_bin = pathlib.Path(sys.executable).parent
failures = []


def check(ok, message):
    if not ok:
        failures.append(message)


lint = subprocess.run([venv_bin / "cfn-lint", "template.yaml"], cwd=root, capture_output=True, text=True)
check(lint.returncode == 0, f"cfn-lint:\n{lint.stdout}{lint.stderr}")

template, errors = decode(str(root / "template.yaml"))
check(not errors, f"template.yaml does not parse: {errors}")
resources = template["Resources"]
machine = next(r for r in resources.values() if r["Type"] == "AWS::Serverless::StateMachine")
asl_path = root / machine["Properties"]["DefinitionUri"]
asl_text = asl_path.read_text()
json.loads(asl_text)
used = set(re.findall(r"\$\{(\w+)\}", asl_text))
defined = set(machine["Properties"].get("DefinitionSubstitutions", {}))
check(used <= defined, f"ASL uses substitutions the template does not define: {sorted(used - defined)}")
check(defined <= used, f"template defines substitutions the ASL does not use: {sorted(defined - used)}")

rendered = re.sub(r"\$\{(\w+)\}", r"arn:aws:lambda:us-east-1:123456789012:function:\1", asl_text)
with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
    f.write(rendered)
states = subprocess.run([venv_bin / "statelint", f.name], capture_output=True, text=True)
check(states.returncode == 0, f"statelint:\n{states.stdout}{states.stderr}")

functions = {name: r for name, r in resources.items() if r["Type"] == "AWS::Serverless::Function"}
binaries = {r.get("Metadata", {}).get("BuildProperties", {}).get("Binary") for r in functions.values()}
dirs = {p.name for p in (root / "functions").iterdir() if (p / "Cargo.toml").exists()}
check(binaries == dirs, f"functions/ has {sorted(dirs)} but the template builds {sorted(binaries)}")
for name, r in functions.items():
    check(r.get("Metadata", {}).get("BuildMethod") == "rust-cargolambda", f"{name}: BuildMethod is not rust-cargolambda")
    others = json.dumps({k: v for k, v in resources.items() if k != name}, default=str)
    check(name in others, f"{name} is not used by any other resource")

if failures:
    print("FAILED infra checks:", *failures, sep="\n  ", file=sys.stderr)
    sys.exit(1)
print(f"infra checks passed: cfn-lint, statelint, {len(used)} substitutions, {len(functions)} functions")
