// Package model owns kpuopt's intermediate representations: the computational
// graph (tensors, operators, shapes, per-operator work), its file formats, the
// reference evaluator that serves as the numerical oracle, and the schedule IR
// (per-operator mappings) that the search produces and the lowering consumes.
//
// Where things live:
//
//	graph.go, dtype.go  the IR types (Graph, Tensor, Operator, DType)
//	ops.go              operator types, aliases, arity and known attributes
//	attrs.go            typed, validating access to operator attributes
//	infer.go            shape inference per operator type
//	validate.go         Validate: structure, limits, topological order, shapes
//	parse.go, write.go  the JSON graph format (kpu-sim's) and the shorthand
//	onnx*.go            the ONNX importer (ParseONNX, LoadONNXFile; docs/onnx.md)
//	work.go             the GEMM view of an operator and its work (MACs, bytes)
//	array.go, eval.go   dense arrays, dtype rounding, the reference evaluator
//	schedule.go         the per-operator schedule (Mapping)
//	export*.go          exporters of solved mappings: plain tilings JSON, Timeloop
//	                    mapping YAML, kpu-sim DFX kernels (docs/export.md)
//
// The file format is documented in docs/graph-format.md.
package model
