"""Base images: which ones a project builds on (choose), what they are pinned to (pins), and
the one resolution per command that both planning and in-image locking read (resolve)."""
