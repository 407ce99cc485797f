//go:build race

package caddytest

const raceEnabled = true
