package xdp

//go:generate bash ../scripts/xdp-gen.sh
