// Package model owns kpuopt's intermediate representations: the computational
// graph (tensors, operators, shapes, per-operator work), its file formats, the
// reference evaluator that serves as the numerical oracle, and the schedule IR
// (per-operator mappings) that the search produces and the lowering consumes.
package model
