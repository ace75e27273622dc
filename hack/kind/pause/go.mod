module bolna.local/kind/pause

go 1.22
