"""serving/kserve/inferenceservice.yaml against KServe's own InferenceService schema (no cluster here).

The schema is the openAPIV3Schema of KServe's CRD, vendored unchanged (tests/data/kserve/SOURCE.md), validated with
`jsonschema` as the API server's strict field validation would: an object that declares its fields takes no
other (a misspelt field fails, rather than being dropped as without strict validation). The manifest is also checked
against the project: the container runs `sparrow-tfx serve` with arguments its parser accepts, the probes and the
scrape path are the server's endpoints on its port, and both services read the same serving directory.
"""
from __future__ import annotations

import copy
import gzip
import hashlib
import os
import re

import jsonschema
import pytest
import yaml

from serving import paths
from tests.conftest import REPO_ROOT

MANIFEST = os.path.join(REPO_ROOT, "serving", "kserve", "inferenceservice.yaml")
CRD = os.path.join(REPO_ROOT, "tests", "data", "kserve", "serving.kserve.io_inferenceservices.yaml.gz")
CRD_SHA256 = "57c3bf13f77de94678bf2ae3748056ec071ad2b9e88d6a28f44fb4710758fcff"  # tests/data/kserve/SOURCE.md
# Kubernetes' DNS-1035 label, which KServe requires of an InferenceService's name
DNS_1035 = re.compile(r"[a-z]([-a-z0-9]*[a-z0-9])?")
_SUBSCHEMA_LISTS = ("allOf", "anyOf", "oneOf")


def strict(schema: dict) -> dict:
    """The schema with `additionalProperties: false` on every object that lists its properties and neither says
    what else it takes nor keeps unknown fields (x-kubernetes-preserve-unknown-fields)."""
    out = dict(schema)
    if "properties" in schema:
        out["properties"] = {name: strict(field) for name, field in schema["properties"].items()}
        if "additionalProperties" not in schema and not schema.get("x-kubernetes-preserve-unknown-fields"):
            out["additionalProperties"] = False
    if isinstance(schema.get("additionalProperties"), dict):
        out["additionalProperties"] = strict(schema["additionalProperties"])
    if isinstance(schema.get("items"), dict):
        out["items"] = strict(schema["items"])
    for key in _SUBSCHEMA_LISTS:
        if key in schema:
            out[key] = [strict(sub) for sub in schema[key]]
    return out


@pytest.fixture(scope="module")
def crd() -> dict:
    with gzip.open(CRD, "rb") as f:
        text = f.read()
    assert hashlib.sha256(text).hexdigest() == CRD_SHA256, "the vendored CRD is not the one SOURCE.md names"
    return yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))


@pytest.fixture(scope="module")
def validator(crd) -> jsonschema.Validator:
    [version] = [v for v in crd["spec"]["versions"] if v["name"] == "v1beta1"]
    assert version["served"] and version["storage"]
    schema = strict(version["schema"]["openAPIV3Schema"])
    jsonschema.Draft7Validator.check_schema(schema)
    return jsonschema.Draft7Validator(schema)


@pytest.fixture(scope="module")
def services() -> dict:
    with open(MANIFEST) as f:
        documents = [d for d in yaml.safe_load_all(f) if d is not None]
    return {d["metadata"]["name"]: d for d in documents}


def errors(validator, document: dict, crd: dict) -> list:
    found = [f"{'.'.join(map(str, e.absolute_path)) or '(root)'}: {e.message}"
             for e in validator.iter_errors(document)]
    group, kind = crd["spec"]["group"], crd["spec"]["names"]["kind"]
    if (document.get("apiVersion"), document.get("kind")) != (f"{group}/v1beta1", kind):
        found.append(f"apiVersion/kind {document.get('apiVersion')}/{document.get('kind')} is not {group}/v1beta1 "
                     f"{kind}")
    name = document.get("metadata", {}).get("name", "")
    if not (DNS_1035.fullmatch(name) and len(name) <= 63):
        found.append(f"metadata.name {name!r} is not a DNS-1035 label")
    return found


def test_every_inference_service_in_the_manifest_is_valid_against_kserves_schema(validator, services, crd):
    assert set(services) == {"sparrow-recommender", "sparrow-tf-serving"}
    for name, document in services.items():
        assert errors(validator, document, crd) == [], name


@pytest.mark.parametrize("change,message", [
    (lambda d: d["spec"]["predictor"]["containers"][0].update(imagee="x"), "'imagee' was unexpected"),
    (lambda d: d["spec"]["predictor"].update(minReplicas="one"), "'one' is not of type 'integer'"),
    (lambda d: d["spec"]["predictor"].update(scaleMetric="latency"), "'latency' is not one of"),
    (lambda d: d["spec"].pop("predictor"), "'predictor' is a required property"),
    (lambda d: d["spec"]["predictor"]["containers"][0]["ports"][0].update(containerPort="8080"),
     "'8080' is not of type 'integer'"),
    (lambda d: d["metadata"].update(name="Sparrow_Recommender"), "is not a DNS-1035 label"),
    (lambda d: d.update(apiVersion="serving.kserve.io/v1alpha1"), "is not serving.kserve.io/v1beta1"),
], ids=["misspelt field", "wrong type", "not in enum", "no predictor", "port as string", "bad name",
        "wrong version"])
def test_the_check_fails_a_broken_manifest(validator, services, crd, change, message):
    document = copy.deepcopy(services["sparrow-recommender"])
    change(document)
    assert any(message in error for error in errors(validator, document, crd)), errors(validator, document, crd)


def test_the_custom_predictor_runs_sparrow_tfx_serve_on_the_servers_endpoints(services):
    from pipeline.cli.main import build_parser
    from pipeline.runners import image

    recommender = services["sparrow-recommender"]
    [container] = recommender["spec"]["predictor"]["containers"]
    assert container["command"] == ["python", "-m", "pipeline.cli.main"]
    args = build_parser().parse_args(container["args"])
    assert (args.command, args.host) == ("serve", "0.0.0.0")
    assert container["image"].endswith("/" + image.default_image())
    assert [p["containerPort"] for p in container["ports"]] == [args.port]
    probes = {name: container[name]["httpGet"] for name in ("startupProbe", "livenessProbe", "readinessProbe")}
    assert {probe["port"] for probe in probes.values()} == {args.port}
    assert probes["livenessProbe"]["path"] in paths.LIVE and probes["startupProbe"]["path"] in paths.LIVE
    assert probes["readinessProbe"]["path"] in paths.READY
    annotations = recommender["metadata"]["annotations"]
    assert annotations["prometheus.kserve.io/path"] == paths.METRICS
    assert annotations["prometheus.kserve.io/port"] == str(args.port)

    # TensorFlow Serving reads the same serving directory the server follows.
    tf_serving = services["sparrow-tf-serving"]["spec"]["predictor"]["model"]
    assert tf_serving["modelFormat"]["name"] == "tensorflow"
    assert tf_serving["storageUri"] == args.serving_dir
