// Package constraints owns the mapping space of one GEMM-like operator on a
// KPU and everything that judges a point of it: the Problem (the GEMM view of
// an operator), the candidate domains of every decision, legality with precise
// reasons (Check, Place), the command stream a mapping lowers to (Walk), its
// exact timing (Replay), the cost model (Evaluate, FastCost) and lower bounds
// (LowerBound). It also owns the streams of whole-graph steps that keep
// operands resident in L3 (WalkResident, PlaceResident, PlanOpResident,
// GEMMStepResident; docs/graph-schedules.md section 6) and the rule that
// moves a resident home off an L3 tile boundary (MoveHomesIntoTiles).
// docs/mapping.md is the contract it implements.
package constraints
