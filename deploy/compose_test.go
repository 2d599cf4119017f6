package deploy

import (
	"net"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"
)

type composeFile struct {
	Services map[string]composeService
	Volumes  map[string]any
}

type composeService struct {
	Image       string
	Build       *struct{ Context, Dockerfile string }
	Command     []string
	Environment map[string]string
	Restart     string
	Volumes     []string
	ReadOnly    bool     `yaml:"read_only"`
	CapDrop     []string `yaml:"cap_drop"`
	DependsOn   any      `yaml:"depends_on"`
}

// composeDefaults resolves ${VAR:-default} to its default and ${VAR} to "",
// as docker compose does without an .env file; a required ${VAR:?message}
// (compose refuses to start without it) resolves to "required".
var composeDefaults = regexp.MustCompile(`\$\{[A-Z0-9_]+(:-([^}]*)|:\?([^}]*))?\}`)

func loadCompose(t *testing.T) composeFile {
	t.Helper()
	data, err := os.ReadFile(ComposeFile)
	require.NoError(t, err)
	data = composeDefaults.ReplaceAllFunc(data, func(m []byte) []byte {
		if composeDefaults.FindSubmatch(m)[3] != nil {
			return []byte("required")
		}
		return composeDefaults.ReplaceAll(m, []byte("$2"))
	})
	var c composeFile
	require.NoError(t, yaml.Unmarshal(data, &c))
	return c
}

// bindMounts returns a service's bind mounts: container path -> host path
// relative to deploy/.
func (s composeService) bindMounts() map[string]string {
	out := map[string]string{}
	for _, v := range s.Volumes {
		host, target, _ := strings.Cut(v, ":")
		target, _, _ = strings.Cut(target, ":")
		if strings.HasPrefix(host, ".") {
			out[target] = path.Join(path.Dir(ComposeFile), host)
		}
	}
	return out
}

func addrPort(t *testing.T, addr string) string {
	t.Helper()
	_, port, err := net.SplitHostPort(addr)
	require.NoError(t, err)
	return port
}

var invitegateServices = map[string]string{
	"ingress-1": "ingress", "ingress-2": "ingress", "projector": "projector",
}

func TestComposeTopology(t *testing.T) {
	t.Parallel()
	c := loadCompose(t)
	for _, name := range []string{"nats", "postgres", "lb", "prometheus", "grafana"} {
		require.Contains(t, c.Services, name)
	}
	natsEnv := c.Services["nats"].Environment
	for name, role := range invitegateServices {
		s := c.Services[name]
		require.Equal(t, []string{role}, s.Command, name)
		require.Equal(t, "invitegate:dev", s.Image, name)
		require.Equal(t, "deploy/docker/Dockerfile", s.Build.Dockerfile, name)
		require.FileExists(t, filepath.Join(path.Dir(ComposeFile), s.Build.Context, s.Build.Dockerfile))
		require.True(t, s.ReadOnly, "%s: read-only root filesystem", name)
		require.Equal(t, []string{"ALL"}, s.CapDrop, name)
		if role == "ingress" {
			require.Contains(t, s.bindMounts(), "/etc/invitegate/policy.yaml", name)
		}

		// Each role connects as its own NATS user, with the password NATS has.
		u, err := url.Parse(s.Environment["INVITEGATE_NATS_URL"])
		require.NoError(t, err, name)
		require.Equal(t, "nats:4222", u.Host, name)
		require.Equal(t, role, u.User.Username(), name)
		pw, _ := u.User.Password()
		require.Equal(t, natsEnv["NATS_"+strings.ToUpper(role)+"_PASSWORD"], pw, name)
	}
	require.Equal(t, "/etc/invitegate/policy.yaml", c.Services["ingress-1"].Environment["INVITEGATE_POLICY"])

	// The projector reaches the compose PostgreSQL as its owner.
	pg := c.Services["postgres"].Environment
	db, err := url.Parse(c.Services["projector"].Environment["INVITEGATE_DATABASE_URL"])
	require.NoError(t, err)
	pw, _ := db.User.Password()
	require.Equal(t, "postgres:5432", db.Host)
	require.Equal(t, pg["POSTGRES_USER"], db.User.Username())
	require.Equal(t, pg["POSTGRES_PASSWORD"], pw)
	require.Equal(t, "/"+pg["POSTGRES_DB"], db.Path)
}

// Every file compose mounts from the repository exists.
func TestComposeBindMountsExist(t *testing.T) {
	t.Parallel()
	c := loadCompose(t)
	for name, s := range c.Services {
		for target, host := range s.bindMounts() {
			_, err := os.Stat(host)
			require.NoError(t, err, "service %s mounts %s at %s", name, host, target)
		}
	}
}

// nginx balances over exactly the ingress services, on the port the image
// listens on.
func TestComposeLoadBalancer(t *testing.T) {
	t.Parallel()
	c := loadCompose(t)
	conf, err := os.ReadFile(c.Services["lb"].bindMounts()["/etc/nginx/nginx.conf"])
	require.NoError(t, err)
	var upstreams []string
	for _, m := range regexp.MustCompile(`(?m)^\s*server\s+([a-z0-9.-]+:[0-9]+)`).FindAllSubmatch(conf, -1) {
		upstreams = append(upstreams, string(m[1]))
	}
	port := addrPort(t, dockerfileEnv(t)["INVITEGATE_HTTP_ADDR"])
	require.ElementsMatch(t, []string{"ingress-1:" + port, "ingress-2:" + port}, upstreams)
	require.Contains(t, string(conf), `proxy_set_header Connection "";`, "keep-alive to the upstreams")
}

// Prometheus scrapes every invitegate service's admin port and loads the
// alert rules that compose mounts; Grafana's provider reads the mounted dashboard.
func TestComposeMonitoring(t *testing.T) {
	t.Parallel()
	c := loadCompose(t)
	prom := c.Services["prometheus"].bindMounts()
	data, err := os.ReadFile(prom["/etc/prometheus/prometheus.yml"])
	require.NoError(t, err)
	var cfg struct {
		RuleFiles     []string `yaml:"rule_files"`
		ScrapeConfigs []struct {
			JobName       string                       `yaml:"job_name"`
			StaticConfigs []struct{ Targets []string } `yaml:"static_configs"`
		} `yaml:"scrape_configs"`
	}
	require.NoError(t, yaml.Unmarshal(data, &cfg))
	for _, rf := range cfg.RuleFiles {
		require.Equal(t, AlertsFile, prom[rf], "rule file %s is not the alerts", rf)
	}
	admin := addrPort(t, dockerfileEnv(t)["INVITEGATE_ADMIN_ADDR"])
	jobs := map[string]string{}
	for _, sc := range cfg.ScrapeConfigs {
		for _, st := range sc.StaticConfigs {
			for _, target := range st.Targets {
				jobs[target] = sc.JobName
			}
		}
	}
	for name, role := range invitegateServices {
		require.Equal(t, "invitegate-"+role, jobs[name+":"+admin], name)
	}

	graf := c.Services["grafana"].bindMounts()
	var dashboards string
	for target, host := range graf {
		if host == DashboardFile {
			dashboards = path.Dir(target)
		}
	}
	require.NotEmpty(t, dashboards, "dashboard not mounted")
	data, err = os.ReadFile(graf["/etc/grafana/provisioning"] + "/dashboards/invitegate.yaml")
	require.NoError(t, err)
	var prov struct {
		Providers []struct{ Options struct{ Path string } }
	}
	require.NoError(t, yaml.Unmarshal(data, &prov))
	require.Equal(t, dashboards, prov.Providers[0].Options.Path)
}

// Grafana provisions the invite-trends dashboard beside the operations one,
// with a PostgreSQL data source logging in as a member of the analyst role,
// which the postgres service's init script creates.
func TestComposeAnalytics(t *testing.T) {
	t.Parallel()
	c := loadCompose(t)
	graf := c.Services["grafana"].bindMounts()
	dirs := map[string]string{}
	for target, host := range graf {
		dirs[host] = path.Dir(target)
	}
	require.NotEmpty(t, dirs[TrendsDashboardFile], "invite-trends dashboard not mounted")
	require.Equal(t, dirs[DashboardFile], dirs[TrendsDashboardFile], "both dashboards in the provider's directory")

	data, err := os.ReadFile(graf["/etc/grafana/provisioning"] + "/datasources/postgres.yaml")
	require.NoError(t, err)
	var ds struct {
		Datasources []struct {
			UID, Type, URL, User string
			JSONData             struct{ Database string } `yaml:"jsonData"`
			Secure               struct{ Password string } `yaml:"secureJsonData"`
		}
	}
	require.NoError(t, yaml.Unmarshal(data, &ds))
	require.Len(t, ds.Datasources, 1)
	pg := ds.Datasources[0]
	require.Equal(t, "grafana-postgresql-datasource", pg.Type)
	require.Equal(t, "postgres:5432", pg.URL)
	require.Equal(t, "invitegate", pg.JSONData.Database)
	require.Equal(t, "$GRAFANA_DB_PASSWORD", pg.Secure.Password)
	require.NotEmpty(t, c.Services["grafana"].Environment["GRAFANA_DB_PASSWORD"])

	dash, err := os.ReadFile(TrendsDashboardFile)
	require.NoError(t, err)
	require.Contains(t, string(dash), `"value": "`+pg.UID+`"`, "the dashboard's data source variable defaults to it")

	postgres := c.Services["postgres"]
	script, err := os.ReadFile(postgres.bindMounts()["/docker-entrypoint-initdb.d/analyst-login.sh"])
	require.NoError(t, err)
	require.Contains(t, string(script), "CREATE ROLE "+pg.User+" LOGIN")
	require.Contains(t, string(script), "IN ROLE invitegate_analyst")
	require.Equal(t, c.Services["grafana"].Environment["GRAFANA_DB_PASSWORD"], postgres.Environment["GRAFANA_DB_PASSWORD"])
}

// Compose ships no callback token: it comes from deploy/compose/.env, and
// compose refuses to start without it (as the ingress would).
func TestComposeRequiresTheCallbackToken(t *testing.T) {
	t.Parallel()
	data, err := os.ReadFile(ComposeFile)
	require.NoError(t, err)
	require.Regexp(t, `INVITEGATE_CALLBACK_TOKEN: \$\{INVITEGATE_CALLBACK_TOKEN:\?[^}]+\}`, string(data))
	c := loadCompose(t)
	for name, role := range invitegateServices {
		if role == "ingress" {
			require.Equal(t, "required", c.Services[name].Environment["INVITEGATE_CALLBACK_TOKEN"], name)
		}
	}
}

// The migrate service provisions the schema, streams and buckets once, as
// the NATS user migrate; every other invitegate service waits for it to
// succeed and provisions nothing itself.
func TestComposeMigrateFirst(t *testing.T) {
	t.Parallel()
	c := loadCompose(t)
	m := c.Services["migrate"]
	require.Equal(t, []string{"migrate", "up"}, m.Command)
	require.Equal(t, "no", m.Restart)
	u, err := url.Parse(m.Environment["INVITEGATE_NATS_URL"])
	require.NoError(t, err)
	pw, _ := u.User.Password()
	require.Equal(t, "migrate", u.User.Username())
	require.Equal(t, c.Services["nats"].Environment["NATS_MIGRATE_PASSWORD"], pw)
	require.Equal(t, c.Services["projector"].Environment["INVITEGATE_DATABASE_URL"], m.Environment["INVITEGATE_DATABASE_URL"])
	for name := range invitegateServices {
		s := c.Services[name]
		require.Equal(t, "true", s.Environment["INVITEGATE_NO_MIGRATE"], name)
		deps, ok := s.DependsOn.(map[string]any)
		require.True(t, ok, name)
		require.Equal(t, map[string]any{"condition": "service_completed_successfully"}, deps["migrate"], name)
	}
}
