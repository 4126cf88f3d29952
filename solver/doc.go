// Package solver is a small constraint layer over the gini SAT solver
// (github.com/go-air/gini). It knows nothing about KPUs, tensors or costs: it
// offers boolean variables, clauses, integer variables over finite candidate
// sets, cardinality and weighted-sum (pseudo-boolean) constraints, and
// minimization of a weighted sum by incremental bound search.
//
// A Model owns one gini solver and one logic circuit (package gini/logic)
// that share a single variable space: every variable is created through the
// circuit, gates are Tseitin-encoded into the solver lazily, just before a
// solve, for exactly the gates reachable from the clauses and assumptions
// added so far (logic.C.CnfSince). Gates built after a solve are therefore
// never lost.
//
// Encodings:
//   - Int: an integer over a sorted set of candidate values in the order
//     encoding: one literal "x >= v_i" per candidate after the first, chained
//     by ladder clauses; Eq gives one-hot views on demand.
//   - Linear and Sum: a weighted sum of literals plus a constant. Negative
//     weights are normalized away; the sum is built as a bit vector by column
//     compression (full and half adders); Sum.Le / Sum.Ge compare it with a
//     constant and return an indicator literal, to be asserted as a clause or
//     assumed for one solve only.
//   - Table turns any function of a few Int variables into a Linear by
//     multi-dimensional differences over the order literals (products of
//     candidate values, per-candidate costs).
//   - ForbidMonotone adds one clause per minimal infeasible corner of a
//     monotone predicate over Int variables (capacity constraints).
//
// Solve honours context cancellation and deadlines (gini keeps running for
// up to a few tens of milliseconds after the request to stop). Minimize
// returns the best value found, the proven lower bound and whether the two
// meet (Optimal). Adder-encoded sums propagate weakly: the unsatisfiable
// solves near the optimum dominate, which is why Minimize descends by
// default rather than bisecting.
//
// A Model is not safe for concurrent use.
package solver
