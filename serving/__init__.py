"""`sparrow-tfx serve`: the long-running HTTP server over the serving directory (server.py: Starlette on uvicorn),
its version watcher (versions.py), request checks (params.py), Prometheus metrics (metrics.py), and the KServe
manifests that run it or TensorFlow Serving on Kubeflow (kserve/)."""
