"""Running a plan: the runner schedules the steps; each step is built once (``build``) and runs as a pipeline
(``step``) of three stages joined by bounded streams — ``fetch`` (source pages), ``mapper`` (selection,
mapping, batching, page tracking) and ``write`` (write workers, in-doubt creates, isolation)."""
