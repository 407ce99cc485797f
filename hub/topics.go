package hub

import (
	"fmt"
	"slices"
	"strings"
)

// A selector names the topics a subscriber wants: an exact topic, a prefix
// ending in "*" ("news/*" matches "news/uk" and "news/uk/london"), or "*"
// for every topic.

// CheckSelector validates one subscription selector.
func CheckSelector(s string) error {
	if err := CheckField("topic", s, MaxTopicLen); err != nil {
		return err
	}
	if i := strings.IndexByte(s, '*'); i >= 0 && i != len(s)-1 {
		return fmt.Errorf("topic %q: '*' may only end a selector", s)
	}
	return nil
}

// SelectorMatches reports whether selector sel covers topic.
func SelectorMatches(sel, topic string) bool {
	if prefix, ok := strings.CutSuffix(sel, "*"); ok {
		return strings.HasPrefix(topic, prefix)
	}
	return sel == topic
}

// SelectorCovers reports whether selector sel grants requested, itself a
// selector: every topic requested can match, sel matches too. "*" covers
// everything; "news/*" covers "news/uk" and "news/uk/*"; "news/uk" covers
// only itself.
func SelectorCovers(sel, requested string) bool {
	prefix, wild := strings.CutSuffix(sel, "*")
	if !wild {
		return sel == requested
	}
	return strings.HasPrefix(requested, prefix)
}

// AnyCovers reports whether one of the selectors covers requested.
func AnyCovers(selectors []string, requested string) bool {
	for _, sel := range selectors {
		if SelectorCovers(sel, requested) {
			return true
		}
	}
	return false
}

// MatchesAny reports whether any selector covers any of the topics.
func MatchesAny(selectors, topics []string) bool {
	for _, s := range selectors {
		for _, t := range topics {
			if SelectorMatches(s, t) {
				return true
			}
		}
	}
	return false
}

// subscriberSet is a set of subscribers; the hub indexes them by selector.
type subscriberSet map[*Subscriber]struct{}

// topicIndex finds the subscribers of a topic without scanning them all:
// exact selectors by map lookup, and prefix selectors by looking up the
// topic's own prefixes, one for each distinct length a prefix selector has,
// so a publish costs the same however many prefixes are subscribed. ("*" is
// the empty prefix; the hub keeps its subscribers in a set of their own as
// well.)
type topicIndex struct {
	exact    map[string]subscriberSet
	prefixes map[string]subscriberSet // key: the prefix without its '*'
	lengths  []int                    // distinct lengths of the prefixes, ascending
	byLength map[int]int              // how many prefixes have each length
}

func newTopicIndex() topicIndex {
	return topicIndex{
		exact:    make(map[string]subscriberSet),
		prefixes: make(map[string]subscriberSet),
		byLength: make(map[int]int),
	}
}

func (ix *topicIndex) add(s *Subscriber) {
	for _, sel := range s.Topics {
		prefix, isPrefix := strings.CutSuffix(sel, "*")
		if !isPrefix {
			addTo(ix.exact, sel, s)
		} else if addTo(ix.prefixes, prefix, s) {
			ix.addLength(len(prefix))
		}
	}
}

func (ix *topicIndex) remove(s *Subscriber) {
	for _, sel := range s.Topics {
		prefix, isPrefix := strings.CutSuffix(sel, "*")
		if !isPrefix {
			removeFrom(ix.exact, sel, s)
		} else if removeFrom(ix.prefixes, prefix, s) {
			ix.removeLength(len(prefix))
		}
	}
}

// addTo adds s to the set under key and reports whether the key is new.
func addTo(m map[string]subscriberSet, key string, s *Subscriber) bool {
	set := m[key]
	created := set == nil
	if created {
		set = make(subscriberSet)
		m[key] = set
	}
	set[s] = struct{}{}
	return created
}

// removeFrom removes s from the set under key and reports whether that
// emptied the set, which is then deleted.
func removeFrom(m map[string]subscriberSet, key string, s *Subscriber) bool {
	set := m[key]
	if set == nil {
		return false
	}
	delete(set, s)
	if len(set) > 0 {
		return false
	}
	delete(m, key)
	return true
}

func (ix *topicIndex) addLength(n int) {
	if ix.byLength[n]++; ix.byLength[n] == 1 {
		i, _ := slices.BinarySearch(ix.lengths, n)
		ix.lengths = slices.Insert(ix.lengths, i, n)
	}
}

func (ix *topicIndex) removeLength(n int) {
	if ix.byLength[n]--; ix.byLength[n] > 0 {
		return
	}
	delete(ix.byLength, n)
	if i, found := slices.BinarySearch(ix.lengths, n); found {
		ix.lengths = slices.Delete(ix.lengths, i, i+1)
	}
}

// each calls fn for every subscriber whose selectors cover topic. A
// subscriber with several matching selectors is visited once per selector;
// the caller deduplicates.
func (ix *topicIndex) each(topic string, fn func(*Subscriber)) {
	for s := range ix.exact[topic] {
		fn(s)
	}
	for _, n := range ix.lengths {
		if n > len(topic) {
			break
		}
		for s := range ix.prefixes[topic[:n]] {
			fn(s)
		}
	}
}
