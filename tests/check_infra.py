#!/usr/bin/env python3
"""Checks the deployment description as a whole, offline:
- cfn-lint on template.yaml (it exits non-zero on findings, unlike `sam validate --lint`);
- statelint on the state machine, rendered with example ARNs for its ${...} substitutions;
- every ${...} in the ASL is defined in DefinitionSubstitutions, and every substitution is used;
- every directory under functions/ is exactly one Lambda of the template (binary = directory
  name), and every function is referenced by the rest of the stack;
- localstack/docker-compose.yml (not runnable here: no Docker engine) agrees with the rest of
  the local setup: LocalStack release, lake key pair, bucket, network, S3 endpoint.
"""
import json
import pathlib
import re
import subprocess
import sys
import shlex
import tempfile
import tomllib

import yaml
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

def check_compose():
    compose = yaml.safe_load((root / "localstack/docker-compose.yml").read_text())
    services = compose["services"]
    pin = re.search(r"^localstack-core\[runtime\]==(\S+)$", (root / "localstack/host/requirements.txt").read_text(), re.M)
    check(services["localstack"]["image"] == f"localstack/localstack:{pin.group(1)}",
          f"docker-compose LocalStack image {services['localstack']['image']} is not the host pin {pin.group(1)}")
    network = services["localstack"]["environment"]["LAMBDA_DOCKER_NETWORK"]
    check(compose["networks"]["default"]["name"] == network, "LAMBDA_DOCKER_NETWORK is not the compose network")
    lake_env = dict(line.split("=", 1) for line in (root / "localstack/lake.env").read_text().splitlines()
                    if line and not line.startswith("#"))
    minio = services["minio"]["environment"]
    for var, key in (("MINIO_ROOT_USER", "LAKE_ACCESS_KEY_ID"), ("MINIO_ROOT_PASSWORD", "LAKE_SECRET_ACCESS_KEY")):
        check(key in lake_env and f"${{{key}:" in minio[var], f"MinIO's {var} is not {key} of lake.env")
    local = tomllib.loads((root / "samconfig.toml").read_text())["local"]["deploy"]["parameters"]
    params = dict(p.split("=", 1) for p in shlex.split(local["parameter_overrides"]))
    bucket = params["LakeUri"].removeprefix("s3://").split("/")[0]
    check(services["lake-bucket"]["command"][-1] == f"lake/{bucket}",
          f"the compose bucket init does not create {bucket} (LakeUri)")
    up = (root / "localstack/docker-up.sh").read_text()
    port = services["minio"]["ports"][0].rsplit(":", 1)[1]
    check(f"S3EndpointUrl=http://minio:{port}" in up, "docker-up.sh's S3EndpointUrl is not the MinIO service")


check_compose()

if failures:
    print("FAILED infra checks:", *failures, sep="\n  ", file=sys.stderr)
    sys.exit(1)
print(f"infra checks passed: cfn-lint, statelint, {len(used)} substitutions, {len(functions)} functions")
