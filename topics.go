package caddysse

import (
	"fmt"
	"strings"
)

// A selector names the topics a subscriber wants: an exact topic, a prefix
// ending in "*" ("news/*" matches "news/uk" and "news/uk/london"), or "*"
// for every topic.

// checkSelector validates one subscription selector.
func checkSelector(s string) error {
	if err := checkField("topic", s, maxTopicLen); err != nil {
		return err
	}
	if i := strings.IndexByte(s, '*'); i >= 0 && i != len(s)-1 {
		return fmt.Errorf("topic %q: '*' may only end a selector", s)
	}
	return nil
}

// selectorMatches reports whether selector sel covers topic.
func selectorMatches(sel, topic string) bool {
	if prefix, ok := strings.CutSuffix(sel, "*"); ok {
		return strings.HasPrefix(topic, prefix)
	}
	return sel == topic
}

// selectorCovers reports whether selector sel grants requested, itself a
// selector: every topic requested can match, sel matches too. "*" covers
// everything; "news/*" covers "news/uk" and "news/uk/*"; "news/uk" covers
// only itself.
func selectorCovers(sel, requested string) bool {
	prefix, wild := strings.CutSuffix(sel, "*")
	if !wild {
		return sel == requested
	}
	return strings.HasPrefix(requested, prefix)
}

// anyCovers reports whether one of the selectors covers requested.
func anyCovers(selectors []string, requested string) bool {
	for _, sel := range selectors {
		if selectorCovers(sel, requested) {
			return true
		}
	}
	return false
}

// matchesAny reports whether any selector covers any of the topics.
func matchesAny(selectors, topics []string) bool {
	for _, s := range selectors {
		for _, t := range topics {
			if selectorMatches(s, t) {
				return true
			}
		}
	}
	return false
}

// subscriberSet is a set of subscribers; the hub indexes them by selector.
type subscriberSet map[*Subscriber]struct{}

// topicIndex finds the subscribers of a topic without scanning them all:
// exact selectors by map lookup, prefix selectors by scanning the distinct
// prefixes (few in practice), and "*" subscribers always.
type topicIndex struct {
	exact    map[string]subscriberSet
	prefixes map[string]subscriberSet // key: the prefix without its '*'
}

func newTopicIndex() topicIndex {
	return topicIndex{
		exact:    make(map[string]subscriberSet),
		prefixes: make(map[string]subscriberSet),
	}
}

func (ix topicIndex) add(s *Subscriber) {
	for _, sel := range s.Topics {
		m, key := ix.slot(sel)
		set := m[key]
		if set == nil {
			set = make(subscriberSet)
			m[key] = set
		}
		set[s] = struct{}{}
	}
}

func (ix topicIndex) remove(s *Subscriber) {
	for _, sel := range s.Topics {
		m, key := ix.slot(sel)
		if set := m[key]; set != nil {
			delete(set, s)
			if len(set) == 0 {
				delete(m, key)
			}
		}
	}
}

func (ix topicIndex) slot(sel string) (map[string]subscriberSet, string) {
	if prefix, ok := strings.CutSuffix(sel, "*"); ok {
		return ix.prefixes, prefix
	}
	return ix.exact, sel
}

// each calls fn for every subscriber whose selectors cover topic. A
// subscriber with several matching selectors is visited once per selector;
// the caller deduplicates.
func (ix topicIndex) each(topic string, fn func(*Subscriber)) {
	for s := range ix.exact[topic] {
		fn(s)
	}
	for prefix, set := range ix.prefixes {
		if strings.HasPrefix(topic, prefix) {
			for s := range set {
				fn(s)
			}
		}
	}
}
