//go:build race

package caddysse

const raceEnabled = true
