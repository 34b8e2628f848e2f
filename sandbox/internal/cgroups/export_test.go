package cgroups

// Test hooks: the pure choices, and a v2 group made on a given mount
// with given controllers (a hybrid host offers v2 only what v1 does not
// hold, such as hugetlb).

var (
	ChooseV2        = chooseV2
	ParseProcCgroup = parseProcCgroup
	ControllersFor  = controllersFor
)

// NewV2On is New on the cgroup2 mount with the controllers want.
func NewV2On(mount, name string, want []string) (*Group, error) {
	self, err := selfCgroups()
	if err != nil {
		return nil, err
	}
	return newV2(mount, self["0"], name+ownerSuffix(), Limits{}, want)
}

// V2Mount is the cgroup2 mount point, or "".
func V2Mount() string {
	m, _ := readMounts()
	return m.v2
}
