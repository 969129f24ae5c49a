"""Housekeeping beside the jobs: reaper, lost messages, presence, shutdown."""
