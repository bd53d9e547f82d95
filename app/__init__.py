"""Worker monitor: a background-worker facade that never loses a task, and a Qt window
that shows its life.

The packages. ``app.core`` imports no other part of ``app``, the Qt-free ones import no
Qt, and only the window, its benchmark and the test plugin import ``app.gui``; CI checks
these boundaries with ``lint-imports``::

    app.gui       the window (PySide6): RunController owns a run, MainWindow lays it out,
                  RecordedView shows a recorded one (open, watch, the time bar)
    app.testing   the pytest plugin: monitor_window, monitor_facade, facade, leak check
    app.bench     python -m app bench: the standard library, Dask, the window, recording
    app.reports   Qt-free: python -m app report and trace, on a recorded run
    app.teaching  Qt-free: scenarios, crash explainer, timeline data, export, demo
    app.cluster   Qt-free, optional: the same facade over a Dask cluster
    app.core      Qt-free: WorkingProcessFacade, its worker processes, run recordings
                  and their replay (RunReplay), the runs folder

How a task travels (local backend)::

    process_task -> Engine (records, dispatch) -> IOThread -> wire frame -> worker
    worker: result/output frames -> IOThread -> Engine (fate rules) -> events
    events -> poll_events -> FacadePoller (QThread) -> RunController.events -> the views
    events -> Recorder (its thread) -> run file -> RunFollower -> RunReplay -> the views
"""
