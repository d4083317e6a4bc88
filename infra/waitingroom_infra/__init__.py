"""The waiting room on AWS as a CDK app: constructs model the components, stacks compose them."""
