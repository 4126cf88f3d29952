package graph

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/stillwater-sc/kpuopt/constraints"
	"github.com/stillwater-sc/kpuopt/kpu"
	"github.com/stillwater-sc/kpuopt/model"
	"github.com/stillwater-sc/kpuopt/search"
)

// seedSpec names the per-operator search engines whose mappings seed the
// candidate sets, and the time each may take.
type seedSpec struct {
	names []string
	limit time.Duration
	cache *Cache
}

// Cache holds the mappings seed searches found (per engine, problem shape
// and objective) and the exact operator costs (per machine and graph). One
// Cache serves one Solve at a time.
type Cache struct {
	mu    sync.Mutex
	m     map[seedKey]model.Mapping
	exact map[*kpu.Config]*exact
}

// exactFor returns the exact-cost cache of cfg (a fresh one without c).
func (c *Cache) exactFor(g *model.Graph, cfg *kpu.Config) *exact {
	if c == nil {
		return newExact(g, cfg)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.exact == nil {
		c.exact = map[*kpu.Config]*exact{}
	}
	ex, ok := c.exact[cfg]
	if !ok || ex.g != g {
		ex = newExact(g, cfg)
		c.exact[cfg] = ex
	}
	return ex
}

type seedKey struct {
	engine string
	p      constraints.Problem
	obj    constraints.Objective
}

// seed runs (or recalls) the search engine name on p.
func (s seedSpec) seed(ctx context.Context, name string, p constraints.Problem, cfg *kpu.Config, obj constraints.Objective) (model.Mapping, error) {
	key := seedKey{name, p, obj}
	key.p.Name = ""
	if s.cache != nil {
		s.cache.mu.Lock()
		m, ok := s.cache.m[key]
		s.cache.mu.Unlock()
		if ok {
			return m, nil
		}
	}
	sctx, cancel := context.WithTimeout(ctx, s.limit)
	r, err := search.Solve(sctx, name, p, cfg, search.Options{Objective: obj})
	cancel()
	if ctx.Err() != nil {
		return model.Mapping{}, ctx.Err()
	}
	if err != nil {
		return model.Mapping{}, fmt.Errorf("search %s: %w", name, err)
	}
	if r.Status == search.StatusInfeasible {
		return model.Mapping{}, r.Err
	}
	m := r.Mapping
	m.Placement = nil
	if s.cache != nil {
		s.cache.mu.Lock()
		if s.cache.m == nil {
			s.cache.m = map[seedKey]model.Mapping{}
		}
		s.cache.m[key] = m
		s.cache.mu.Unlock()
	}
	return m, nil
}
