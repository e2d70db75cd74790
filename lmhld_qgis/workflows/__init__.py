"""Workflows that chain the layers below them (core, training) into one run, e.g. the out-of-the-box demo.

core is the bottom layer and never imports training; a workflow that exports, trains and detects lives here.
"""
