"""Teaching, Qt-free: scenarios, the crash explainer, the timeline's data, export,
the local-vs-Dask comparison and the terminal demo."""
