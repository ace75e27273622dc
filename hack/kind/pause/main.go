// Command pause is the sandbox process of every pod on the kind node this project
// builds offline: it holds the pod's namespaces open, reaps the zombies of a pod that
// shares its PID namespace, and exits on SIGINT or SIGTERM. The kubelet's stock pause
// image comes from a registry these machines cannot reach, so it is built here.
package main

import (
	"os"
	"os/signal"
	"syscall"
)

func main() {
	if os.Getpid() != 1 {
		os.Stderr.WriteString("pause: warning: not running as PID 1\n")
	}
	signals := make(chan os.Signal, 8)
	signal.Notify(signals, syscall.SIGINT, syscall.SIGTERM, syscall.SIGCHLD)
	for sig := range signals {
		if sig != syscall.SIGCHLD {
			os.Exit(0)
		}
		for {
			pid, err := syscall.Wait4(-1, nil, syscall.WNOHANG, nil)
			if pid <= 0 || err != nil {
				break
			}
		}
	}
}
