#!/usr/bin/env python3
"""Checks the S3 requests each Lambda made (recorded by a proxy in front of the S3 server)
against that function's policy in template.yaml and the lake bucket's policy: every request
must be allowed, and the requests each function must never make (writes outside its prefixes,
deletes) must be refused.

usage: check_policies.py <requests.json> <bucket>
<requests.json>: [{"label": function, "method", "path": "/<bucket>/<key>", "query",
"copy_source", "deleted_keys"}], the keys laid out as the stack's lake (`lake/raw/...`).
`check_policies.py --self-test` checks the evaluator on its own.

The evaluator is a small one (no policy evaluator library is packaged for Python): Allow and
Deny statements, Action and Resource with `*` and `?` wildcards, and the StringLike and Bool
conditions the template uses. An explicit Deny wins; nothing is allowed unless a statement
allows it. Requests are taken as made over TLS (aws:SecureTransport), as on AWS.
"""
import fnmatch
import json
import pathlib
import re
import sys
from urllib.parse import parse_qs, unquote

from cfnlint.decode import decode

TEMPLATE = pathlib.Path(__file__).resolve().parent.parent / "template.yaml"
FUNCTIONS = {"mock-api": "MockApiFunction", "extractor": "ExtractorFunction",
             "transformer": "TransformerFunction", "gold-builder": "GoldBuilderFunction",
             "maintainer": "MaintainerFunction"}
SILVER = ["orders_transformed", "customers_transformed", "products_transformed", "orders_quarantine"]
GOLD = ["fact_sales", "dim_customers", "dim_products", "dim_dates"]
# What each function must never be allowed to do: (action, key).
REFUSED = {
    "mock-api": [("s3:GetObject", "lake/raw/x"), ("s3:PutObject", "lake/state/x")],
    "extractor": [("s3:PutObject", "lake/warehouse/lakehouse_db/fact_sales/data/x"),
                  ("s3:PutObject", "lake/runs/x/report.json"),
                  ("s3:DeleteObject", "lake/raw/x"), ("s3:DeleteObject", "lake/state/lease/x")],
    "transformer": [("s3:PutObject", "lake/raw/x"), ("s3:DeleteObject", "lake/raw/x"),
                    ("s3:PutObject", "lake/state/watermark/x"),
                    ("s3:DeleteObject", "lake/warehouse/lakehouse_db/orders_transformed/data/x")]
                   + [("s3:PutObject", f"lake/warehouse/lakehouse_db/{t}/data/x") for t in GOLD],
    "gold-builder": [("s3:PutObject", "lake/raw/x"), ("s3:GetObject", "lake/raw/x"),
                     ("s3:DeleteObject", "lake/warehouse/lakehouse_db/fact_sales/data/x")]
                    + [("s3:PutObject", f"lake/warehouse/lakehouse_db/{t}/data/x") for t in SILVER],
    "maintainer": [("s3:PutObject", "lake/raw/x"), ("s3:DeleteObject", "lake/raw/x"),
                   ("s3:DeleteObject", "lake/state/watermark/x"),
                   ("s3:DeleteObject", "lake/state/ledger/runs/x/gold.json")],
}


def resolve(value, bucket):
    """The template's intrinsics as the checks need them: the lake bucket's name and ARN."""
    arn = f"arn:aws:s3:::{bucket}"
    if isinstance(value, dict) and "Fn::Sub" in value:
        text = value["Fn::Sub"]
        return text.replace("${LakeBucket.Arn}", arn).replace("${LakeBucket}", bucket)
    if isinstance(value, dict) and value.get("Fn::GetAtt") in (["LakeBucket", "Arn"], "LakeBucket.Arn"):
        return arn
    if isinstance(value, dict) and value.get("Ref") == "LakeBucket":
        return bucket
    if isinstance(value, list):
        return [resolve(v, bucket) for v in value]
    if isinstance(value, dict):
        return {k: resolve(v, bucket) for k, v in value.items()}
    return value


def statements(policies):
    """The statements of a function's Policies, both branches of an Fn::If taken (a condition
    may only add statements, so the union is what the function could ever be allowed)."""
    found = []
    for policy in policies:
        if isinstance(policy, dict) and "Fn::If" in policy:
            found += statements([b for b in policy["Fn::If"][1:] if isinstance(b, dict) and "Statement" in b])
        elif isinstance(policy, dict) and "Statement" in policy:
            found += policy["Statement"]
        else:
            raise SystemExit(f"policy {policy!r} is not a statement list: SAM policy templates are "
                             "not evaluated here, write the statements out")
    return found


def as_list(value):
    return value if isinstance(value, list) else [value]


def matches(pattern, value):
    return fnmatch.fnmatchcase(value, re.sub(r"([\[\]])", r"[\1]", pattern))


def condition_holds(condition, context):
    for operator, tests in (condition or {}).items():
        for key, wanted in tests.items():
            have = context.get(key)
            if have is None:
                return False
            if operator == "StringLike" and not any(matches(w, have) for w in as_list(wanted)):
                return False
            if operator == "Bool" and str(have).lower() != str(wanted).lower():
                return False
            if operator not in ("StringLike", "Bool"):
                raise SystemExit(f"condition operator {operator} is not evaluated here")
    return True


def applies(statement, action, resource, context):
    return (any(matches(a, action) for a in as_list(statement.get("Action", [])))
            and any(matches(r, resource) for r in as_list(statement.get("Resource", [])))
            and condition_holds(statement.get("Condition"), context))


def allowed(identity, bucket_policy, action, resource, context):
    every = identity + bucket_policy
    if any(s["Effect"] == "Deny" and applies(s, action, resource, context) for s in every):
        return False
    return any(s["Effect"] == "Allow" and applies(s, action, resource, context) for s in identity)


def actions_of(request, bucket):
    """[(action, resource ARN, context)] a recorded S3 request needs."""
    path = unquote(request["path"])
    parts = path.lstrip("/").split("/", 1)
    if parts[0] != bucket:
        raise SystemExit(f"request outside the lake's bucket: {request}")
    key = parts[1] if len(parts) > 1 else ""
    query = parse_qs(request["query"], keep_blank_values=True)
    method = request["method"]
    context = {"aws:SecureTransport": "true"}
    obj = f"arn:aws:s3:::{bucket}/{key}"
    if not key:
        if method == "POST" and "delete" in query:
            # A bulk delete needs s3:DeleteObject on every key it names.
            keys = request.get("deleted_keys") or []
            if not keys:
                raise SystemExit(f"a bulk delete without keys: {request}")
            return [("s3:DeleteObject", f"arn:aws:s3:::{bucket}/{k}", context) for k in keys]
        if method == "GET":
            return [("s3:ListBucket", f"arn:aws:s3:::{bucket}",
                     {**context, "s3:prefix": query.get("prefix", [""])[0]})]
        raise SystemExit(f"bucket request not evaluated here: {request}")
    if method in ("GET", "HEAD"):
        return [("s3:GetObject", obj, context)]
    if method == "DELETE":
        action = "s3:AbortMultipartUpload" if "uploadId" in query else "s3:DeleteObject"
        return [(action, obj, context)]
    if method in ("PUT", "POST"):
        needed = [("s3:PutObject", obj, context)]
        if request.get("copy_source"):
            source = unquote(request["copy_source"]).lstrip("/").split("?", 1)[0]
            needed.append(("s3:GetObject", f"arn:aws:s3:::{source}", context))
        return needed
    raise SystemExit(f"request not evaluated here: {request}")


def load(bucket):
    template, errors = decode(str(TEMPLATE))
    if template is None:
        raise SystemExit(f"template.yaml: {errors}")
    resources = resolve(template["Resources"], bucket)
    identity = {label: statements(resources[name]["Properties"].get("Policies", []))
                for label, name in FUNCTIONS.items()}
    bucket_policy = [s for s in resources["LakeBucketPolicy"]["Properties"]["PolicyDocument"]["Statement"]]
    return identity, bucket_policy


def self_test():
    identity = [{"Effect": "Allow", "Action": ["s3:GetObject", "s3:PutObject"], "Resource": "arn:aws:s3:::b/lake/raw/*"},
                {"Effect": "Allow", "Action": "s3:ListBucket", "Resource": "arn:aws:s3:::b",
                 "Condition": {"StringLike": {"s3:prefix": ["lake/raw/*"]}}},
                {"Effect": "Allow", "Action": "s3:*", "Resource": "arn:aws:s3:::b/lake/tmp/?"}]
    deny = [{"Effect": "Deny", "Action": "s3:PutObject", "Resource": "arn:aws:s3:::b/lake/raw/locked/*"},
            {"Effect": "Deny", "Action": "s3:*", "Resource": "arn:aws:s3:::b/*",
             "Condition": {"Bool": {"aws:SecureTransport": "false"}}}]
    tls = {"aws:SecureTransport": "true"}
    cases = [
        ("s3:GetObject", "arn:aws:s3:::b/lake/raw/2026/part.json", tls, True),
        ("s3:DeleteObject", "arn:aws:s3:::b/lake/raw/2026/part.json", tls, False),
        ("s3:GetObject", "arn:aws:s3:::b/lake/rawx", tls, False),
        ("s3:PutObject", "arn:aws:s3:::b/lake/raw/locked/x", tls, False),
        ("s3:GetObject", "arn:aws:s3:::b/lake/raw/x", {"aws:SecureTransport": "false"}, False),
        ("s3:ListBucket", "arn:aws:s3:::b", {**tls, "s3:prefix": "lake/raw/2026"}, True),
        ("s3:ListBucket", "arn:aws:s3:::b", {**tls, "s3:prefix": "lake/state"}, False),
        ("s3:ListBucket", "arn:aws:s3:::b", tls, False),
        ("s3:DeleteObject", "arn:aws:s3:::b/lake/tmp/a", tls, True),
        ("s3:DeleteObject", "arn:aws:s3:::b/lake/tmp/ab", tls, False),
    ]
    for action, resource, context, want in cases:
        got = allowed(identity, deny, action, resource, context)
        assert got == want, f"{action} {resource} {context}: {got}, want {want}"
    print(f"evaluator self-test: {len(cases)} cases")


def main():
    self_test()
    if sys.argv[1:] == ["--self-test"]:
        return
    requests_path, bucket = sys.argv[1], sys.argv[2]
    identity, bucket_policy = load(bucket)
    requests = json.load(open(requests_path))
    failures, counts = [], {}
    for request in requests:
        label = request["label"]
        if label not in identity:
            failures.append(f"a request by {label!r}, which is no function: {request}")
            continue
        for action, resource, context in actions_of(request, bucket):
            counts[(label, action)] = counts.get((label, action), 0) + 1
            if not allowed(identity[label], bucket_policy, action, resource, context):
                failures.append(f"{label}: {action} {resource} {context.get('s3:prefix', '')} "
                                f"(for {request['method']} {request['path']}?{request['query']}) is refused")
    for label in ("extractor", "transformer", "gold-builder", "maintainer"):
        if not any(l == label for l, _ in counts):
            failures.append(f"{label} made no request: its policy went unchecked")
    for label, refused in REFUSED.items():
        for action, key in refused:
            if allowed(identity[label], bucket_policy, action, f"arn:aws:s3:::{bucket}/{key}",
                       {"aws:SecureTransport": "true"}):
                failures.append(f"{label} may {action} {key}, which it must not")
    for (label, action), n in sorted(counts.items()):
        print(f"{label:13} {action:26} {n:6} requests allowed")
    if failures:
        print("FAILED:", *failures[:40], sep="\n  ", file=sys.stderr)
        sys.exit(1)
    print(f"all {len(requests)} requests allowed by their function's policy; "
          f"{sum(map(len, REFUSED.values()))} forbidden ones refused")


if __name__ == "__main__":
    main()
