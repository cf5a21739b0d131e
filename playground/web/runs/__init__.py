"""Experiments as the server runs them: the queue and who may control what (experiments,
scheduling, actions), the runner and its process (runner, runner_process, runner_link), the live
page drawn (publisher) and fanned out to viewers (fanout), and what a finished run leaves on disk
(folders, retention)."""
