"""Placeholder: filled in by the REST API work."""

from flask import Blueprint

blueprint = Blueprint("api", __name__)
