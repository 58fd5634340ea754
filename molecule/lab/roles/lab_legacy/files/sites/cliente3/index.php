<?php
// Cliente Tres's site on the old platform, made to look like Joomla 2.5 (lab fixture of fracto.hosting).
// It reads its configuration the way Joomla does (class JConfig) and its article from the database.
define('_JEXEC', 1);
require __DIR__ . '/configuration.php';
require __DIR__ . '/libraries/cms/version/version.php';
$config = new JConfig();
$version = new JVersion();
mysqli_report(MYSQLI_REPORT_OFF);
$db = @new mysqli($config->host, $config->user, $config->password, $config->db);
if ($db->connect_errno) {
    http_response_code(500);
    echo "<!DOCTYPE html>\n<html><head><title>Database Error: Unable to connect to the database</title></head><body></body></html>\n";
    exit;
}
$db->set_charset('utf8');
$article = $db->query("SELECT title, introtext FROM " . $config->dbprefix . "content WHERE id = 1")->fetch_assoc();
$title = htmlspecialchars($article['title'] . ' - ' . $config->sitename, ENT_QUOTES, 'UTF-8');
?>
<!DOCTYPE html>
<html lang="es-es">
<head>
<meta name="generator" content="<?php echo $version->PRODUCT . ' ' . $version->RELEASE; ?> - Open Source Content Management" />
<title><?php echo $title; ?></title>
<link rel="stylesheet" href="templates/beez_20/css/template.css" type="text/css" />
</head>
<body>
<h2><?php echo htmlspecialchars($article['title'], ENT_QUOTES, 'UTF-8'); ?></h2>
<div class="item-page"><?php echo htmlspecialchars($article['introtext'], ENT_QUOTES, 'UTF-8'); ?></div>
</body>
</html>
