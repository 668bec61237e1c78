"""The run folder's model: ``run.yaml`` and ``fingerprint.json``, typed, read and written here.

Every feature that records something about a run reads and writes its section through this
package; nothing above it reaches into a run folder's files by name.
"""
