"""Stacks: stateful resources, the API, the authorizer and the sample site."""
