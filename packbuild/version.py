"""The version both pack writers record (`provenance.exporter_version`): the exporter and packbuild."""
__version__ = "0.1.0"
