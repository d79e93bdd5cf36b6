// pprof model, protobuf encoder, gzip, profile builders and text renderers. See DESIGN.md.
