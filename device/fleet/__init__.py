"""A fleet of devices at one site: provisioning (certificates, passwords, ACL, config snippets)."""
