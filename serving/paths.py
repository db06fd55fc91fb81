"""The server's endpoints (serving/server.py), in a module without TensorFlow: the KServe manifest's probes and
scrape path are checked against them (tests/test_kserve_manifest.py)."""
RECOMMEND = "/recommend"
SCORE = "/score"
LIVE = ("/healthz", "/v2/health/live")  # the process answers (Kubernetes' and KServe's v2 protocol's names)
READY = ("/readyz", "/v2/health/ready")  # a version is loaded and warm
METRICS = "/metrics"
