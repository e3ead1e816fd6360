"""Tests of pgqueue_core."""
