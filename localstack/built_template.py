"""Writes what `sam build` would: .aws-sam/build/template.yaml with each function's CodeUri
pointing at its artifact from scripts/build-lambdas.sh (one workspace build instead of SAM's
one cargo-lambda build per function) and file references made absolute.

usage: built_template.py <template.yaml> <lambda dir> <output template>
"""

import sys
from pathlib import Path

from samcli.yamlhelper import yaml_dump, yaml_parse


def main(template_path: str, lambda_dir: str, out_path: str) -> None:
    template_file = Path(template_path).resolve()
    template = yaml_parse(template_file.read_text())
    for name, resource in template["Resources"].items():
        props = resource.get("Properties", {})
        if resource["Type"] == "AWS::Serverless::Function":
            binary = resource.get("Metadata", {}).get("BuildProperties", {}).get("Binary")
            if not binary:
                sys.exit(f"{name}: no Metadata.BuildProperties.Binary to find its artifact by")
            artifact = Path(lambda_dir).resolve() / binary / "bootstrap.zip"
            if not artifact.exists():
                sys.exit(f"{name}: {artifact} is missing: run scripts/build-lambdas.sh")
            props["CodeUri"] = str(artifact)
            resource.pop("Metadata", None)
        if resource["Type"] == "AWS::Serverless::StateMachine" and "DefinitionUri" in props:
            props["DefinitionUri"] = str(template_file.parent / props["DefinitionUri"])
    out = Path(out_path)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(yaml_dump(template))
    print(f"built template: {out}")


if __name__ == "__main__":
    main(*sys.argv[1:])
